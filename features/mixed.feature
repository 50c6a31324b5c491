@fault @process_control
Feature: A burst of orders under mixed faults ends consistent
  Everything at once: a slow link, a service cut off, a service killed mid-message, and every
  message delivered twice. Once the faults heal, every order has finished along a legal path,
  and every invariant of the checker holds for the burst.

  Scenario: A burst under latency, a partition, a crash and duplicates ends consistent
    Given the saga system is running
    And the message bus is being recorded
    And the inventory service's link to the broker is slowed by 50 ms
    And the payment service is cut off from the broker
    And the delivery service will die at "after_commit_before_ack" on a "delivery.schedule" message
    When a burst of 10 orders is placed with mixed outcomes
    Then every order that got its stock waits for its payment
    When every message the bus carried so far is delivered again
    And the payment service's link to the broker is restored
    And the delivery service is restarted once it has died
    And every fault is healed
    Then every order ends as expected, along the seed's path for its outcome
    And every invariant holds for the orders of this scenario
