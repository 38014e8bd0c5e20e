"""A demo SaaS app modelled on MusoBuddy: health endpoints, fault injection and an admin API."""
