"""Full pull of 50,000 items from the simulator at Zoho's limits, against the rate bound."""
