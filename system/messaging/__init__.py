"""The service's messaging shell: topology, consumer loop with inbox, outbox relay."""
