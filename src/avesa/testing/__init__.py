"""Test helpers AVESA ships for the people who extend it (a connector of their own): not used at run time."""
