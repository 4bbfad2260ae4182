//! The impl emitted next to the errors, so that the user sees our errors and not a cascade of
//! "the trait `ActiveUserEntry` is not implemented" errors wherever the type is used.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

/// An impl whose methods are never meant to run: the crate does not compile anyway.
pub(crate) fn stub(input: &DeriveInput) -> TokenStream {
    let ident = &input.ident;
    quote! {
        #[automatically_derived]
        impl ::active_users::ActiveUserEntry for #ident {
            fn fields() -> &'static [::active_users::Field] {
                &[]
            }
            fn extract(
                _: &::active_users::RequestHead<'_>,
                _: &::active_users::ExtractContext,
            ) -> ::core::option::Option<Self> {
                ::core::option::Option::None
            }
            fn encode_fields(&self, _: &mut ::active_users::codec::Encoder<'_>) {}
            fn decode_fields(
                _: &mut ::active_users::codec::Decoder<'_>,
            ) -> ::core::result::Result<Self, ::active_users::DecodeError> {
                ::core::result::Result::Err(::active_users::DecodeError::Unsupported)
            }
            fn write_values(
                &self,
                _: &mut ::active_users::__private::Vec<
                    ::core::option::Option<::active_users::__private::String>,
                >,
            ) {
            }
        }
    }
}
