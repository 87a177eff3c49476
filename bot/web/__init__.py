"""The read-only web view of a ledger (`ltbot serve`)."""
