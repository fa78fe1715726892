//! Agents' phones: SIP registration with digest authentication and the
//! feature codes agents dial to change their state.

pub mod features;
pub mod registrar;
