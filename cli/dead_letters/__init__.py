"""Reading, masking, fixing and replaying dead-lettered commands (the engine behind `sp-relay dlq`).

``letter`` (one message and what the worker wrote on it), ``filters`` (which messages an operator
means), ``masking`` (what ``dlq show`` may print), ``fixups`` (``--set``/``--unset``), ``scan`` (reading
the queue without losing anything), ``grouping`` (``dlq list``) and ``replay`` (moving messages back).

Reading never loses a message: messages are received with a short visibility timeout, never deleted
by ``list``/``show``, and made visible again (visibility 0) as soon as the scan ends. ``replay`` deletes
a message from the dead-letter queue only after it was sent to the command queue.
"""
