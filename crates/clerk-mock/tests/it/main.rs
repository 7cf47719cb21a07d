//! Integration tests for clerk-mock, over raw HTTP on `std::net::TcpStream`.

mod api;
mod client;
mod faults;
mod http;
mod limit;
mod users;
