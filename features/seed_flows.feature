@seed_flow
Feature: The seed's order saga
  As a shop owner I want every order to end in a state I can explain:
  completed, paid once and delivered once; or failed, with the money and the stock given back.
  Payment and delivery outcomes are chosen for each scenario, never left to chance.

  Background:
    Given the saga system is running
    And the message bus is being recorded

  Scenario: A paid and deliverable order completes
    When a customer orders 2 units of "product_1" for 199.99
    Then the order is completed
    And the order's events are, in order:
      | inventory.reserve  |
      | inventory.reserved |
      | payment.process    |
      | payment.completed  |
      | delivery.schedule  |
      | delivery.scheduled |
    And the message bus carried the same events for the order
    And the customer was charged 199.99 once
    And one delivery is scheduled for the order
    And 2 units of "product_1" are held for the order
    And every product's stock adds up

  Scenario: An order for more than the stock fails for insufficient inventory
    Given the stock of "product_3" is noted
    When a customer orders 100 units of "product_3" for 4999.99
    Then the order fails because of insufficient inventory
    And the order's events are, in order:
      | inventory.reserve |
      | inventory.failed  |
    And the message bus carried the same events for the order
    And the customer was not charged
    And no delivery is scheduled for the order
    And no stock is held for the order
    And the stock of "product_3" is as noted

  Scenario: A declined payment releases the reserved stock
    Given the stock of "product_2" is noted
    And the payment provider will decline the payment
    When a customer orders 3 units of "product_2" for 59.50
    Then the order fails because the payment failed
    And the order's events are, in order:
      | inventory.reserve  |
      | inventory.reserved |
      | payment.process    |
      | payment.failed     |
      | inventory.release  |
      | inventory.released |
    And the message bus carried the same events for the order
    And the customer was not charged
    And no delivery is scheduled for the order
    And no stock is held for the order
    And the stock of "product_2" is as noted

  Scenario: A delivery that cannot be scheduled refunds the payment and releases the stock
    Given the stock of "product_2" is noted
    And the courier will fail to schedule the delivery
    When a customer orders 1 unit of "product_2" for 25.00
    Then the order fails because the delivery failed
    And the order's events are, in order:
      | inventory.reserve  |
      | inventory.reserved |
      | payment.process    |
      | payment.completed  |
      | delivery.schedule  |
      | delivery.failed    |
      | payment.refund     |
      | payment.refunded   |
      | inventory.release  |
      | inventory.released |
    And the message bus carried the same events for the order
    And the customer's payment of 25.00 was refunded in full
    And no delivery is scheduled for the order
    And no stock is held for the order
    And the stock of "product_2" is as noted
    And every invariant holds for the orders of this scenario
