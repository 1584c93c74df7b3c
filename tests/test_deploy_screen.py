"""The deploy dialog (approve a diff, keep a verified change) driven by Textual's pilot."""

from __future__ import annotations

import asyncio

from textual.app import App
from textual.widgets import Button, Static

from meshtui.ops.deploy import Change, LintEntry, Verification
from meshtui.ui.screens.deploy import DeployScreen, TuiOperator, diff_line_class

DIFF = (
    "--- edge-a:/etc/babeld.conf (deployed)\n"
    "+++ edge-a:/etc/babeld.conf (generated)\n"
    "@@ -1,2 +1,2 @@\n"
    " local-path /run/babeld.sock\n"
    "-interface eth0 type wired hello-interval 4\n"
    "+interface eth0 type wired hello-interval 2\n"
    " key id k type hmac-sha256 value <redacted>\n"
)
CHANGE = Change(
    deploy_id="d1",
    node="edge-a",
    role="edge",
    site="a",
    config_path="/etc/babeld.conf",
    diff=DIFF,
    diff_sha256="0" * 64,
    lint=(LintEntry("security", "warning", "edge-a:/etc/babeld.conf", 3, "no key", "add one"),),
    confirm_timeout=120,
)
VERIFIED = Verification(
    ok=True,
    socket=True,
    elapsed=1.5,
    timeout=22,
    neighbours_back=("fe80::1 on eth0",),
    destinations_back=("srv-a1 (fd42:1::a1/128)",),
)


class Host(App[None]):
    """An empty app that shows one dialog and records its answer."""

    def __init__(self, screen: DeployScreen) -> None:
        super().__init__()
        self.dialog = screen
        self.answers: list[bool] = []

    def on_mount(self) -> None:
        self.push_screen(self.dialog, self.answers.append)


def texts(screen: DeployScreen) -> list[str]:
    return [str(s.render()) for s in screen.query(Static)]


def test_diff_line_classes() -> None:
    assert [diff_line_class(line) for line in DIFF.splitlines()] == [
        "-file", "-file", "-hunk", "-context", "-del", "-add", "-context",
    ]  # fmt: skip


async def test_approve_shows_the_diff_and_defaults_to_cancel() -> None:
    app = Host(DeployScreen(CHANGE, "approve"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        shown = "\n".join(texts(app.dialog))
        assert "+interface eth0 type wired hello-interval 2" in shown
        assert "value <redacted>" in shown
        assert "edge-a:/etc/babeld.conf:3: warning: no key" in shown
        assert app.focused is not None and app.focused.id == "deploy-no"
        assert "-add" in app.dialog.query_one("#deploy-diff").children[5].classes
        await pilot.press("enter")  # enter on the focused button: Cancel
        await pilot.pause()
    assert app.answers == [False]


async def test_approve_with_y() -> None:
    app = Host(DeployScreen(CHANGE, "approve"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("y")
        await pilot.pause()
    assert app.answers == [True]


async def test_confirm_shows_verification_and_keeps_with_the_button() -> None:
    app = Host(DeployScreen(CHANGE, "confirm", VERIFIED))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        shown = "\n".join(texts(app.dialog))
        assert "verified in 1.5 s" in shown
        assert "Rolls back by itself in 120 s" in shown
        assert app.focused is not None and app.focused.id == "deploy-no"
        app.dialog.query_one("#deploy-yes", Button).press()
        await pilot.pause()
    assert app.answers == [True]


async def test_confirm_times_out_as_a_rollback() -> None:
    now = [0.0]
    screen = DeployScreen(CHANGE, "confirm", VERIFIED, timeout=5, clock=lambda: now[0])
    app = Host(screen)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        now[0] = 6.0  # the clock passes the deadline: the next tick answers "roll back"
        for _ in range(50):
            if app.answers:
                break
            await pilot.pause(0.1)
    assert app.answers == [False]


async def test_tui_operator_asks_from_a_worker() -> None:
    class Deploying(App[None]):
        def __init__(self) -> None:
            super().__init__()
            self.results: list[bool] = []
            self.logged: list[str] = []

        def on_mount(self) -> None:
            self.run_worker(self.ask(), exit_on_error=False)

        async def ask(self) -> None:
            op = TuiOperator(self, log=lambda node, msg: self.logged.append(f"{node}: {msg}"))
            op.progress("edge-a", "wrote /etc/babeld.conf")
            self.results.append(await op.approve(CHANGE))
            self.results.append(await op.confirm(CHANGE, VERIFIED))

    app = Deploying()
    async with app.run_test(size=(120, 40)) as pilot:
        for key in ("y", "n"):
            for _ in range(50):
                if isinstance(app.screen, DeployScreen):
                    break
                await pilot.pause(0.05)
            await pilot.press(key)
            await pilot.pause()
        for _ in range(50):
            if len(app.results) == 2:
                break
            await asyncio.sleep(0.05)
    assert app.results == [True, False]
    assert app.logged == ["edge-a: wrote /etc/babeld.conf"]


async def test_mounts_in_the_dashboard_with_its_themes() -> None:
    from meshtui.ui.testing import demo_app, settle

    app = demo_app()
    answers: list[bool] = []
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        for theme in ("meshtui-dark", "meshtui-light", "meshtui-contrast"):
            app.theme = theme
            app.push_screen(DeployScreen(CHANGE, "approve"), answers.append)
            await pilot.pause()
            assert isinstance(app.screen, DeployScreen)
            await pilot.press("escape")
            await pilot.pause()
    assert answers == [False, False, False]
