"""Executors: run the pipeline units locally (asyncio) or on AWS (Step Functions + Lambda)."""
