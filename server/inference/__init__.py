"""Model inference in a child process (`VIGIL_INFERENCE=process`), so that the worker's event loop and
aiortc's per-packet Python work never wait on the GIL for model glue.

`host.InferenceHost` (in the worker) owns one child process (`child.serve`), started with the
"spawn" context (never a fork of a process whose threads and aiortc already run). The child loads the
pipeline once and holds each session's `SessionPipeline`; frames travel through one shared-memory
slot per session (`slots.FrameSlot`), requests and results through a pipe (`messages`).
"""
