@fault
Feature: A saga that ends even when a participant never answers
  Every step has a deadline (this system runs with SAGA_STEP_TIMEOUT=3). A step that does not
  answer in time fails the order with a reason naming it, and everything done so far is undone;
  an answer that comes after the deadline never revives the saga, and its effect is undone too.
  A payment gateway that fails for a moment is retried, with a growing pause, and charges once.

  Background:
    Given the saga system is running
    And the message bus is being recorded

  Scenario: A participant is down past its deadline
    Given the payment service is cut off from the broker
    When a customer orders 1 unit of "product_1" for 12.00
    Then the order fails with "timeout:payment" within 8 seconds
    And the order's history shows the timeout
    When every fault is healed
    Then every effect of the order is undone
    And every invariant holds, the deadline and retry ones included

  # With replicas the charge and its refund can reach two payment processes and be handled in
  # either order: the refund first leaves a tombstone, and the late charge is refused, not made.
  @single_consumer
  Scenario: A late reply after the timeout
    Given the payment service's link to the broker is slowed by 6000 ms
    When a customer orders 1 unit of "product_1" for 13.00
    Then the order fails with "timeout:payment" within 8 seconds
    When every fault is healed
    Then a late "payment.completed" for the order was on the bus
    And the order is still failed with "timeout:payment"
    And every effect of the order is undone
    And every invariant holds, the deadline and retry ones included

  Scenario: Transient payment errors succeed on retry
    When 12 orders are placed whose payment the gateway decides
    Then some payment succeeded after a retry
    And the payment service counts its retries
    And every invariant holds, the deadline and retry ones included
