"""The units every executor runs: plan run, plan table, run chunk, finalize table.

Each takes a PipelineContext plus plain serialisable data and returns plain data, so the local
asyncio executor and AWS Lambda handlers call exactly the same code.
"""
