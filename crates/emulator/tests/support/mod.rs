//! Helpers shared by the RTMP tests; each test crate uses a part of them.
#![allow(dead_code)]

pub mod fixture;
pub mod rtmp_client;
