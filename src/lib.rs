//! passerelle: a Matrix application service that bridges Matrix rooms to email, XMPP and SMS.

pub mod appservice;
pub mod config;
pub mod connector;
pub mod connectors;
pub mod doctor;
#[cfg(fuzzing)]
pub mod fuzzing;
pub mod html;
pub mod ids;
pub mod import;
pub mod matrix;
pub mod media;
pub mod metrics;
pub mod registration;
pub mod runtime;
pub mod store;
