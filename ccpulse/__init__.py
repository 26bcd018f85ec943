"""ccpulse: real-time contact-centre metrics from Kafka events to Redis and Prometheus."""

__version__ = "0.1.0"
