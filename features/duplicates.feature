@fault
Feature: Every message delivered twice has no double effect
  RabbitMQ delivers at least once: any message may arrive again, with the same message id,
  after its first delivery was handled; and a sender may retry under a new id. The saga must
  absorb both: no second charge, no second delivery, no stock taken or given back twice, no
  step of the order repeated.

  Background:
    Given the saga system is running
    And the message bus is being recorded

  Scenario Outline: A message delivered a second time changes nothing
    Given a finished order whose saga carried a "<message>" message
    When the "<message>" message is delivered again with the same message id
    Then the <service> service takes the message in
    And nothing about the order, its payment, its delivery or its stock changed
    And it recognises the message as a duplicate

    Examples: commands
      | message           | service   |
      | inventory.reserve | inventory |
      | inventory.release | inventory |
      | payment.process   | payment   |
      | payment.refund    | payment   |
      | delivery.schedule | delivery  |

    Examples: replies
      | message            | service |
      | inventory.reserved | order   |
      | inventory.failed   | order   |
      | inventory.released | order   |
      | payment.completed  | order   |
      | payment.failed     | order   |
      | payment.refunded   | order   |
      | delivery.scheduled | order   |
      | delivery.failed    | order   |

    Examples: a choreography's first message (skipped in the orchestration, which does not send it)
      | message      | service   |
      | order.placed | inventory |

  Scenario Outline: A message sent again under a new message id changes nothing
    # A sender that retries with a fresh id defeats the inbox: the handlers themselves must see
    # that the order already had this step, and the order must ignore a late reply.
    Given a finished order whose saga carried a "<message>" message
    When the "<message>" message is sent again under a new message id
    Then the <service> service takes the message in
    And nothing about the order, its payment, its delivery or its stock changed

    Examples: commands
      | message           | service   |
      | inventory.reserve | inventory |
      | inventory.release | inventory |
      | payment.process   | payment   |
      | payment.refund    | payment   |
      | delivery.schedule | delivery  |

    Examples: replies
      | message            | service |
      | inventory.reserved | order   |
      | inventory.failed   | order   |
      | inventory.released | order   |
      | payment.completed  | order   |
      | payment.failed     | order   |
      | payment.refunded   | order   |
      | delivery.scheduled | order   |
      | delivery.failed    | order   |

    Examples: a choreography's first message (skipped in the orchestration, which does not send it)
      | message      | service   |
      | order.placed | inventory |
