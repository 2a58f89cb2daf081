"""The published events as a feed, for consumers without Kafka."""
