@seed_flow
Feature: Retrying an order with the same Idempotency-Key
  A customer whose checkout timed out presses "buy" again. The retry carries the same
  Idempotency-Key, so the shop makes one order, charges once and ships once.

  Background:
    Given the saga system is running

  Scenario: A retried order request makes one order, not two
    When a customer orders 1 unit of "product_1" for 10.00 with Idempotency-Key "checkout-1"
    And the customer sends the same request again with Idempotency-Key "checkout-1"
    Then both answers name the same order
    And the retry was answered as a replay
    And the order is completed
    And exactly one order carries Idempotency-Key "checkout-1"
    And the customer was charged 10.00 once
    And one delivery is scheduled for the order
    And every invariant holds for the orders of this scenario

  Scenario: Reusing a key for a different order is refused
    When a customer orders 1 unit of "product_1" for 10.00 with Idempotency-Key "checkout-2"
    And the customer sends a different request with Idempotency-Key "checkout-2"
    Then the different request is refused as a conflict
    And the order is completed
    And exactly one order carries Idempotency-Key "checkout-2"
