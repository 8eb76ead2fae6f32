"""Generated protobuf code for proto/record.proto (``from sm_payloads._proto import record_pb2``).

The codecs do not need it (they read and write the wire format with numpy); it is here for
users who want protobuf message objects, and for the tests that check our bytes against
protobuf's own parser. Importing it needs protobuf >= 6.33.5.
"""
