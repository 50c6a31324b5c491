@fault @process_control @broker_restart
Feature: The broker restarts in the middle of sagas
  RabbitMQ itself goes away and comes back. Messages already in its durable queues survive,
  every service reconnects by itself, and the orders caught mid-saga finish exactly once.

  Scenario: Orders waiting in the broker survive its restart
    Given the saga system is running
    And the message bus is being recorded
    # Holding the payment service off the broker parks the sagas mid-way, with their payment
    # commands sitting in its queue, so the restart lands mid-saga every time.
    And the payment service is cut off from the broker
    When customers place these orders:
      | product   | quantity | amount | outcome         |
      | product_1 | 1        | 13.00  | completed       |
      | product_2 | 1        | 14.00  | payment failed  |
      | product_1 | 2        | 15.00  | delivery failed |
    Then every order waits at "inventory_reserved"
    When the broker is restarted
    And the payment service's link to the broker is restored
    Then every service is ready again
    And every order ends as expected, along the seed's path for its outcome
    And every invariant holds for the orders of this scenario
