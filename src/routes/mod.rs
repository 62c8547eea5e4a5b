//! Thin handlers: each extracts what it needs, calls one function, returns a typed response.

pub mod accounts;
pub mod admin;
pub mod api;
pub mod auth;
pub mod health;
pub mod json;
pub mod pages;
