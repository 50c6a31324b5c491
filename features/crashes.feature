@fault @process_control
Feature: A service killed at a crash point and restarted
  Any process can die between any two lines. Each service is killed (SIGKILL) at each of its
  dangerous moments: before its transaction commits, after the commit but before the broker
  heard the ack, and after publishing a message but before marking it sent. Restarted, it
  picks up where its committed state says, and the customer sees one clean, completed order.

  Background:
    Given the saga system is running
    And the message bus is being recorded

  Scenario Outline: A service dies at a crash point and the order still completes once
    Given the <service> service will die at "<point>" on a "<message>" message
    When a customer orders 2 units of "product_1" for 21.00
    Then the <service> service dies
    When the <service> service is restarted
    Then the order is completed
    And the order followed the seed's success path
    And the customer was charged 21.00 once
    And one delivery is scheduled for the order
    And 2 units of "product_1" are held for the order
    And every invariant holds for the orders of this scenario

    Examples: dying before the commit
      | service   | point         | message           |
      | order     | before_commit | payment.completed |
      | inventory | before_commit | inventory.reserve |
      | payment   | before_commit | payment.process   |
      | delivery  | before_commit | delivery.schedule |

    Examples: dying after the commit, before the ack
      | service   | point                   | message           |
      | order     | after_commit_before_ack | payment.completed |
      | inventory | after_commit_before_ack | inventory.reserve |
      | payment   | after_commit_before_ack | payment.process   |
      | delivery  | after_commit_before_ack | delivery.schedule |

    Examples: dying after publishing, before marking the message sent
      | service   | point                          | message            |
      | order     | after_publish_before_mark_sent | delivery.schedule  |
      | inventory | after_publish_before_mark_sent | inventory.reserved |
      | payment   | after_publish_before_mark_sent | payment.completed  |
      | delivery  | after_publish_before_mark_sent | delivery.scheduled |

    Examples: in a choreography, on the events each service reacts to or sends (skipped in the orchestration)
      | service   | point                          | message            |
      | inventory | before_commit                  | order.placed       |
      | payment   | before_commit                  | inventory.reserved |
      | delivery  | before_commit                  | payment.completed  |
      | inventory | after_commit_before_ack        | order.placed       |
      | payment   | after_commit_before_ack        | inventory.reserved |
      | delivery  | after_commit_before_ack        | payment.completed  |
      | order     | after_publish_before_mark_sent | order.placed       |
