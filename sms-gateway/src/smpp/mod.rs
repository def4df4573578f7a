//! # SMPP 3.4 ESME — the gateway as a client of the operator's SMSC
//!
//! (Under construction: the PDU codec, the sans-I/O session and its tokio shell land here.)
