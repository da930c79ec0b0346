"""Shared by every test directory: pytest puts this directory (tests/) on
sys.path when it loads this file, so each suite's harness can import
``serverproc``, the one helper that starts and stops a real server."""
