"""`avesa service test`: one cheap live call with the stored credentials."""

from __future__ import annotations

import asyncio

from avesa.pipeline.context import PipelineContext


def check_service(ctx: PipelineContext, tenant_id: str, service: str) -> str:
    async def check() -> str:
        try:
            await ctx.connector(tenant_id, service).check()
            return "credentials accepted"
        finally:
            await ctx.aclose()

    return asyncio.run(check())
