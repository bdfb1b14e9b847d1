"""The thin typer front end over the Python API."""
