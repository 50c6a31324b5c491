"""The reference saga: four services (order, inventory, payment, delivery) on RabbitMQ."""
