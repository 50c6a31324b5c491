@fault
Feature: Slow and broken network links
  Every service reaches RabbitMQ through its own proxy, and customers reach the order API
  through one too. Slow links make the saga slower, never wrong; a service cut off from the
  broker says it is not ready, still answers reads, and catches up once the link is back.

  Background:
    Given the saga system is running
    And the message bus is being recorded

  Scenario: Orders end correctly while every link is slow
    Given every link to the broker and the order API is slowed by 100 ms
    When customers place these orders:
      | product   | quantity | amount | outcome         |
      | product_1 | 1        | 10.00  | completed       |
      | product_2 | 2        | 20.00  | payment failed  |
      | product_1 | 1        | 30.00  | delivery failed |
    Then every order ends as expected, along the seed's path for its outcome
    And every invariant holds for the orders of this scenario

  Scenario: The payment service is cut off from the broker and comes back
    Given the payment service is cut off from the broker
    Then the payment service reports that it is not ready
    And the payment service still lists payments
    When customers place these orders:
      | product   | quantity | amount | outcome         |
      | product_1 | 1        | 11.00  | completed       |
      | product_2 | 1        | 12.00  | delivery failed |
    Then every order waits at "inventory_reserved"
    When the payment service's link to the broker is restored
    Then the payment service is ready again
    And every order ends as expected, along the seed's path for its outcome
    And every invariant holds for the orders of this scenario
