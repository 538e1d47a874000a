//! A downstream user of generated types, written once against the spec before an optional field was
//! added and compiled against both versions: that it compiles against `after` is the test that
//! adding an optional field breaks no downstream code.

use serde_json::json;

/// The user's code, for one version of the types.
macro_rules! user {
    ($version:ident) => {
        mod $version {
            use streamspec_codegen_downstream::$version::{NewThing, Thing};

            /// What a client sends.
            pub fn request(name: &str) -> NewThing {
                NewThing::new(name.to_owned())
            }

            /// What a server answers.
            pub fn response(id: &str, name: &str) -> Thing {
                let mut thing = Thing::new(id.to_owned(), name.to_owned());
                thing.size = Some(3);
                thing
            }

            /// What a reader takes out of an answer.
            pub fn label(thing: &Thing) -> String {
                let Thing { id, name, .. } = thing;
                format!("{id}: {name}")
            }

            /// Reads an answer.
            pub fn read(body: serde_json::Value) -> Result<Thing, serde_json::Error> {
                serde_json::from_value(body)
            }
        }
    };
}

user!(before);
user!(after);

#[test]
fn the_same_code_builds_the_same_payloads_against_both_versions() {
    let sent = json!({"name": "one"});
    assert_eq!(serde_json::to_value(before::request("one")).unwrap(), sent);
    assert_eq!(serde_json::to_value(after::request("one")).unwrap(), sent);
    let answered = json!({"id": "1", "name": "one", "size": 3});
    assert_eq!(serde_json::to_value(before::response("1", "one")).unwrap(), answered);
    assert_eq!(serde_json::to_value(after::response("1", "one")).unwrap(), answered);
    assert_eq!(before::label(&before::response("1", "one")), "1: one");
    assert_eq!(after::label(&after::response("1", "one")), "1: one");
}

/// A reader built before the field was added still reads an answer that carries it.
#[test]
fn an_old_reader_reads_a_new_answer() {
    let answer = json!({"id": "1", "name": "one", "description": "new"});
    assert_eq!(before::label(&before::read(answer.clone()).unwrap()), "1: one");
    let read = after::read(answer).unwrap();
    assert_eq!(read.description.as_deref(), Some("new"));
}
