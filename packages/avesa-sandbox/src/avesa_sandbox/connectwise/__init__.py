"""The simulated ConnectWise Manage REST API (v4_6_release/apis/3.0)."""
