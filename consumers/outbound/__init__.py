"""The write-back writer: commands on `tds.outbound` → Zoho, once each, answered on
`tds.outbound.results`, the written record fed back into `zoho.raw.realtime`."""
