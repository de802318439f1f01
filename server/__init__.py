"""Vigil's media edge: signaling, peers, tracks, data channel, store."""
