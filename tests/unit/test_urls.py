from system.urls import redact_url


def test_passwords_are_kept_out_of_messages():
    assert redact_url("amqp://guest:secret@h:5672/v") == "amqp://guest:***@h:5672/v"
    assert redact_url("amqp://h:5672/") == "amqp://h:5672/"
    assert redact_url("amqp://user:pw@h/") == "amqp://user:***@h/"
