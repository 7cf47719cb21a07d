//! The adapters' convenience methods, written once.
//!
//! Each adapter's client has one `send` (blocking or async) that drives any
//! [`Operation`](crate::Operation); the methods named after what a caller
//! wants (create a token, revoke one, find users by email address) are a
//! few lines around it. [`client_conveniences!`](crate::client_conveniences)
//! writes them, docs included, inside an adapter's `impl Client`, so the
//! three adapters cannot drift apart.

/// Writes a client's convenience methods around its `send`.
///
/// Invoked inside `impl Client` of an adapter whose client has
/// `fn send<O: Operation>(&self, operation: O) -> Result<O::Output, Error>`
/// (`blocking`) or the same as an `async fn` (`async`).
#[doc(hidden)]
#[macro_export]
macro_rules! client_conveniences {
    (blocking) => {
        $crate::client_conveniences!(@methods [] []);
    };
    (async) => {
        $crate::client_conveniences!(@methods [async] [.await]);
    };
    (@methods [$($async:tt)*] [$($await:tt)*]) => {
        /// Creates a sign-in token: `POST /sign_in_tokens`.
        ///
        /// Not idempotent: after a failure where the request may have
        /// reached Clerk, it is not retried unless the retry policy opts in.
        ///
        /// # Errors
        /// Whatever [`send`](Self::send) reports: invalid arguments, Clerk's
        /// refusal, an unexpected or undecodable reply, or a transport
        /// failure.
        pub $($async)* fn create_sign_in_token(
            &self,
            request: $crate::CreateSignInToken,
        ) -> ::core::result::Result<$crate::SignInToken, $crate::Error> {
            self.send(request)$($await)*
        }

        /// Revokes a pending sign-in token:
        /// `POST /sign_in_tokens/{id}/revoke`.
        ///
        /// # Errors
        /// Whatever [`send`](Self::send) reports.
        pub $($async)* fn revoke_sign_in_token(
            &self,
            sign_in_token_id: &str,
        ) -> ::core::result::Result<$crate::SignInToken, $crate::Error> {
            self.send($crate::RevokeSignInToken::new(sign_in_token_id))$($await)*
        }

        /// Finds the users with these email addresses: one
        /// [`EmailMatch`](clerk_core::EmailMatch) per address, in the same
        /// order (found, not found, or ambiguous), comparing addresses
        /// case-insensitively.
        ///
        /// Any number of addresses; they are sent in batches of up to 100
        /// (⌈n/100⌉ requests for ordinary addresses, more only when long
        /// ones need it, when a page is full, or when a reply is over the
        /// body cap), each retried like any idempotent call. See
        /// [`EmailLookup`](clerk_core::EmailLookup), which this drives.
        ///
        /// # Errors
        /// An empty or overlong address, before anything is sent; otherwise
        /// the first request's error that ends the lookup, as
        /// [`send`](Self::send) reports it.
        pub $($async)* fn find_users_by_email<S: ::core::convert::AsRef<str>>(
            &self,
            addresses: &[S],
        ) -> ::core::result::Result<::std::vec::Vec<$crate::EmailMatch>, $crate::Error> {
            let mut lookup = $crate::EmailLookup::new(addresses)?;
            while let ::core::option::Option::Some(request) = lookup.next_request() {
                lookup.handle(self.send(request)$($await)*)?;
            }
            ::core::result::Result::Ok(lookup.finish())
        }
    };
}
