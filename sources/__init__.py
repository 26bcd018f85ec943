"""Event sources: the simulator and adapters from contact-centre platforms."""
