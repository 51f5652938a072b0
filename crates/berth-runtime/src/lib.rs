//! The OCI runtime library behind berth.
