Feature: Customers racing for the last units of a scarce product
  product_3 opens with 50 units and is never restocked: a completed order keeps its units. When
  many customers order at once, the inventory must serve an order for exactly the units left
  (available == quantity) and refuse one unit more (available < quantity), and every order must
  still end, along a legal path, with the stock adding up. Each scenario reads the stock it finds
  (other scenarios and runs on the same system may have used some of it), so it holds whether
  units are left or not; when none are, every boundary order must be refused.

  Background:
    Given the saga system is running
    And the message bus is being recorded
    And the stock of "product_3" is noted

  Scenario: Units taken at the boundary by an order whose payment is declined come back
    Given the payment provider will decline the payment
    When 4 customers order exactly the units of "product_3" left and 4 order one unit more, all at once
    Then every order for one unit more failed because of insufficient inventory
    And if any unit was left, some order for the units left got them before its payment was declined
    And the stock of "product_3" is as noted
    And every invariant holds for the orders of this scenario

  Scenario: A rush of small, exact and one-more orders beside dice orders ends consistent
    When a rush of 16 orders races for the last units of the scarce product beside dice orders
    Then every order finishes
    And the rush reached the boundary: some scarce orders failed because of insufficient inventory, and no other order did
    And every product's stock adds up
    And every invariant holds for the orders of this scenario

  Scenario: Only one customer gets the last units
    When 4 customers order exactly the units of "product_3" left and 4 order one unit more, all at once
    Then every order for one unit more failed because of insufficient inventory
    And if any unit was left, exactly one order for the units left got them, and the others failed because of insufficient inventory
    And no unit of "product_3" is left
    And every product's stock adds up
    And every invariant holds for the orders of this scenario
