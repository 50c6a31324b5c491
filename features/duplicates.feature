@fault
Feature: Every message delivered twice has no double effect
  RabbitMQ delivers at least once: any message may arrive again, with the same message id,
  after its first delivery was handled. The saga must absorb it: no second charge, no second
  delivery, no stock taken or given back twice, no step of the order repeated.

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
