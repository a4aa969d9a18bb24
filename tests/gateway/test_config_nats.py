"""`[upstream] sink = "nats"`: what a valid section builds, and each key it refuses."""

from gateway.config import load_config
from gateway.upstream.forwarder import sink_from_config
from tests.gateway.test_config import MINIMAL, problems, write

NATS = '\n[upstream]\nsink = "nats"\nstream = "GL"\nplant = "p1"\n'
LOGIN = 'user_env = "GL_NATS_USER"\npassword_env = "GL_NATS_PASSWORD"\n'


def test_a_nats_section_builds_the_sink_with_the_subject_filled_in(tmp_path):
    cfg = load_config(write(tmp_path, MINIMAL + NATS + LOGIN +
                            'url = "nats://127.0.0.1:4222, tls://nats2.plant:4443"\n'))
    sink = sink_from_config(cfg, environ={"GL_NATS_USER": "gw", "GL_NATS_PASSWORD": "s3cret"})
    assert (sink.servers, sink.subject, sink.stream, sink.stream_subjects, sink.create_stream) == (
        ["nats://127.0.0.1:4222", "tls://nats2.plant:4443"], "gl.p1.plant1-line1", "GL",
        "gl.*.*", False)
    assert (sink.user, sink.password, sink.tls_context is not None) == ("gw", "s3cret", True)
    assert "s3cret" not in repr(sink)


def test_a_nats_section_is_refused_key_by_key(tmp_path):
    local = 'url = "nats://127.0.0.1:4222"\n'
    cases = {
        NATS + LOGIN: ["upstream.url: missing: sink 'nats' needs it"],
        NATS + LOGIN + 'url = "nats://gw:pw@127.0.0.1:4222"\n':
            ["upstream.url: credentials do not go in the url; name environment variables "
             "with user_env and password_env"],
        NATS + LOGIN + 'url = "nats://nats.plant:4222"\n':
            ["upstream.url: plain nats:// to nats://nats.plant:4222 sends the login and the "
             "ledger unencrypted; use tls:// or set allow_insecure = true"],
        NATS + LOGIN + 'url = "http://127.0.0.1:4222"\n':
            ["upstream.url: expected nats://host:port or tls://host:port, got "
             "'http://127.0.0.1:4222'"],
        NATS + local: ["upstream.user_env: missing: the NATS login comes from the environment "
                       "variables named by user_env and password_env, or from creds_file"],
        NATS + local + 'user_env = "U"\n': ["upstream.password_env: user_env and password_env "
                                            "go together"],
        NATS + LOGIN + local + 'ca_file = "ca.pem"\n':
            ["upstream.ca_file: TLS files need tls:// urls, got 'nats://127.0.0.1:4222'",
             f"upstream.ca_file: file not found: {tmp_path / 'ca.pem'}"],
        '\n[upstream]\nsink = "nats"\n' + LOGIN + local:
            ["upstream.stream: missing: sink 'nats' needs the JetStream stream name",
             "upstream.plant: missing: the subject 'gl.{plant}.{gateway}' uses {plant}"],
        NATS + LOGIN + local + 'subject = "gl.{line}"\n':
            ["upstream.subject: unknown placeholder {line} in 'gl.{line}'; known: {plant}, "
             "{gateway}"],
        NATS + LOGIN + local + 'subject = "gl.>"\n':
            ["upstream.subject: not a NATS publish subject: 'gl.>' (tokens separated by '.', "
             "no spaces or wildcards)"],
        '\n[upstream]\nsink = "file"\npath = "o.jsonl"\nstream = "GL"\ncreate_stream = true\n':
            ["upstream.stream: not used by sink 'file'",
             "upstream.create_stream: not used by sink 'file'"],
    }
    for tail, expected in cases.items():
        assert problems(write(tmp_path, MINIMAL + tail)) == expected, tail


def test_plain_nats_to_another_host_with_allow_insecure_loads(tmp_path):
    cfg = load_config(write(tmp_path, MINIMAL + NATS + LOGIN +
                            'url = "nats://nats.plant:4222"\nallow_insecure = true\n'))
    assert cfg.upstream.nats_subject(cfg.gateway.id) == "gl.p1.plant1-line1"
