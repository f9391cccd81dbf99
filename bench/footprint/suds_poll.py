"""The comparison client of the footprint benchmark: Python suds (Debian python3-suds), built from
the reference cash-register WSDL, sends one invoice to the SEQR simulator and then calls
getPaymentStatus once a second, as the official sample's loop does. It prints "ready <ref>" once
the invoice is out, then one line "poll <CLOCK_MONOTONIC ns>" per answered poll, until stdin closes.

usage: suds_poll.py WSDL_FILE SOAP_URL TERMINAL_ID PASSWORD
"""

import os
import sys
import threading
import time

from suds.client import Client

wsdl, url, terminal_id, password = sys.argv[1:5]
client = Client("file://" + os.path.abspath(wsdl), location=url, cache=None)


def context():
    c = client.factory.create("clientContext")
    c.channel = "WS"
    c.clientId = "footprint-bench"
    c.clientRequestTimeout = 0
    principal = client.factory.create("principalId")
    principal.id = terminal_id
    principal.type = "TERMINALID"
    c.initiatorPrincipalId = principal
    c.password = password
    return c


invoice = client.factory.create("invoice")
invoice.acknowledgmentMode = "NO_ACKNOWLEDGMENT"
invoice.paymentMode = "IMMEDIATE_DEBIT"
invoice.title = "Bench"
amount = client.factory.create("amount")
amount.currency = "SEK"
amount.value = "25.00"
invoice.totalAmount = amount
answer = client.service.sendInvoice(context(), invoice)
if answer.resultCode != 0:
    sys.exit("sendInvoice answered resultCode %s" % answer.resultCode)
ref = answer.invoiceReference
print("ready", ref, flush=True)

stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
next_at = time.monotonic()
while not stop.is_set():
    status = client.service.getPaymentStatus(context(), ref, 0)
    if status.resultCode != 0:
        sys.exit("getPaymentStatus answered resultCode %s" % status.resultCode)
    print("poll", time.monotonic_ns(), flush=True)
    next_at += 1.0
    stop.wait(max(0.0, next_at - time.monotonic()))
