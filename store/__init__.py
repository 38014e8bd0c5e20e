"""Materialised state the API reads: detections, forecasts, incidents and actions."""
