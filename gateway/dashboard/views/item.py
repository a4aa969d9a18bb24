"""One item: its stock by location, status and lot; its movements with the running
quantity and value; its standard cost and the BOM and routing that build it."""

from __future__ import annotations

from aiohttp import web

from gateway.dashboard import movements, queries
from gateway.dashboard.cost_tree import cost_tree
from gateway.dashboard.keys import STATE
from gateway.dashboard.render import render

routes = web.RouteTableDef()


def inventory_accounts(state) -> tuple[str, ...]:
    """The accounts an item's book value sits on: the configured ones, else the master
    data's inventory accounts."""
    s, m = state.settings, state.master
    if s.inventory_accounts:
        return tuple(s.inventory_accounts)
    if m is None:
        return ()
    return tuple(sorted(set(m.accounts.inventory.values())
                        | {i.inventory_account for i in m.items if i.inventory_account}))


@routes.get("/items/{sku}", name="item")
async def item(request: web.Request) -> web.Response:
    state = request.app[STATE]
    sku = request.match_info["sku"]
    master = state.master
    known = master is not None and any(i.sku == sku for i in master.items)
    accounts = inventory_accounts(state)

    def read(conn):
        return queries.item(conn, sku), movements.history(conn, sku, accounts, master)

    data, moves = await state.db.run(read)
    if data is None and not known:
        raise web.HTTPNotFound(text=f"No item {sku} in the journal or the master data.")
    info = next((i for i in master.items if i.sku == sku), None) if master else None
    std = state.standard_costs()
    return render(request, "item.html", page="stock", sku=sku, info=info,
                  book=data["book"] if data else None, rows=data["rows"] if data else [],
                  moves=moves, tree=cost_tree(master, std, sku) if known else [],
                  has_master=master is not None)
