"""The data commands: which datasets are here, and fetching one."""

from __future__ import annotations

from typing import Annotated

import typer

from relubench import views
from relubench.cli.app import app, console, examples, group
from relubench.cli.options import DataDir, flag

data_app = group("Datasets: where they live, whether they are here, how to get them.")
app.add_typer(data_app, name="data")


@data_app.command(
    "list", epilog=examples("relubench data list", "relubench data list --data-dir DIR")
)
def data_list(data_dir: DataDir = None) -> None:
    """Every dataset: images, classes, whether it is here and where, its size, its licence."""
    from relubench.data.store import download_command

    console.print(views.datasets_table(data_dir, download_command("NAME", data_dir)))


@data_app.command("download", epilog=examples("relubench data download mnist --data-dir DIR"))
def data_download(
    name: Annotated[
        str,
        typer.Argument(help="mnist, fashion-mnist, cifar10 or cifar100.", show_default=False),
    ],
    data_dir: DataDir = None,
    force: Annotated[
        bool,
        flag(
            "Fetch again even if a copy is here (repairs it); the copy is replaced only once "
            "the new files are here and read.",
            "--force",
        ),
    ] = False,
) -> None:
    """Fetch a dataset through torchvision (checksums verified) and check that it loads."""
    from relubench.data.load import fetch

    with console.status(f"fetching {views.safe(name)} and checking it loads"):
        data, found, fetched = fetch(name, data_dir, force)
    folder = views.safe(found.folder)
    console.print(
        f"{data.spec.name} {'downloaded' if fetched else f'already here ({found.where})'}: "
        f"{len(data.y_train):,} train + {len(data.y_test):,} test images in [bold]{folder}[/]"
    )
