//! Tests of the store face: dispatch, metadata placement and error messages.
