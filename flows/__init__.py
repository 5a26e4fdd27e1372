"""Prefect wiring: tasks and flows that call pipeline/, the CLI and deployments.

Importing this package does not import Prefect: settings must be in the environment
before Prefect's first import (see flows.settings).
"""
