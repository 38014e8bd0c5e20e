"""The REST API (FastAPI) over forecasts, detections, incidents, actions and health."""
