//! Integration tests against a real Synapse and the real `passerelle` binary.
//!
//! `scripts/test.sh` installs and starts Synapse with a registration made by
//! `passerelle generate-registration`, then runs these tests with `PASSERELLE_IT_CONFIG`
//! pointing at that configuration. Each test starts its own passerelle (one at a time: they
//! share the appservice port the registration names) with its own database.

mod harness;
mod mail_peer;

mod appservice_api;
mod bench;
mod bridging;
mod durability;
mod email;
mod faults;
mod import;
mod operations;
mod outages;
mod sms;
mod sms_peer;
mod sms_smpp;
mod sms_smpp_durable;
mod sms_twilio;
mod soak;
mod startup;
mod xmpp;
mod xmpp_peer;
