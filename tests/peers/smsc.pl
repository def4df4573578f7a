#!/usr/bin/perl
# A small SMPP 3.4 SMSC built on Net::SMPP (Debian: libnet-smpp-perl), the independent peer the
# ESME tests bind to (tests/tests/sms_smpp.rs).
#
#   perl smsc.pl --port N --state DIR [--receipts]
#
# Listens on 127.0.0.1:N (0 = any free port) and prints "LISTENING <port>" on stdout. Serves one
# ESME connection at a time: answers bind_transceiver (any credentials; logged), enquire_link and
# unbind; records every submit_sm and answers submit_sm_resp (message ids M1, M2, ...; with
# --receipts it then sends a delivery receipt). Commands on stdin, one per line:
#
#   MO <from> <to> <hex of UTF-8 text>                          one mobile-originated message
#   MOPART <from> <to> <ref> <total> <seq> <hex of UTF-8 text>  one part, with a concatenation UDH
#   ENQUIRE                                                     send enquire_link to the ESME
#   GARBAGE                                                     send a PDU with an unknown command id
#
# MOs are "stored" like a real SMSC: written to DIR/pending/ before delivery and removed only when
# the ESME acknowledges them with deliver_sm_resp; after a restart (kill -9 and start again with
# the same DIR) pending MOs are delivered again on the next bind. Everything observable is
# appended to DIR/events.log, one line per event (see `logline` calls). Exits when stdin closes.
use strict;
use warnings;
use Net::SMPP;
use IO::Select;
use IO::Handle;
use Encode qw(encode decode);
use Getopt::Long;

my ($port, $state, $receipts) = (0, undef, 0);
GetOptions('port=i' => \$port, 'state=s' => \$state, 'receipts' => \$receipts) or die "usage\n";
die "--state DIR is required\n" unless defined $state;
mkdir $state;
mkdir "$state/pending";

open(my $log, '>>', "$state/events.log") or die "events.log: $!";
$log->autoflush(1);
sub logline { print $log join(' ', @_), "\n"; }

my $listen = Net::SMPP->new_listen('127.0.0.1', port => $port, smpp_version => 0x34)
    or die "cannot listen on port $port: $!";
STDOUT->autoflush(1);
print "LISTENING ", $listen->sockport, "\n";
logline('START', $$);

my $counter_file = "$state/counter";
sub next_number {
    my $n = 0;
    if (open(my $c, '<', $counter_file)) { $n = <$c> // 0; chomp $n; close $c; }
    $n++;
    open(my $c, '>', "$counter_file.tmp") or die; print $c $n; close $c;
    rename "$counter_file.tmp", $counter_file;
    return $n;
}

my $sel;             # what the main loop waits on
my $conn;            # the ESME connection (Net::SMPP object), when one is bound or binding
my $bound = 0;
my %inflight;        # deliver_sm sequence -> pending file name (or "receipt:<id>")
my $msgid = 0;
my $stdin_buf = '';

sub text_pdu_fields {
    my ($text) = @_;
    if ($text =~ /^[A-Za-z0-9 !"#%&'()*+,\-.\/:;<=>?\n]*$/) {
        return (0, $text);                          # GSM-7 basic table = ASCII for these
    }
    return (8, encode('UTF-16BE', $text));          # UCS-2 (surrogate pairs for non-BMP)
}

sub store_mo {
    my ($from, $to, $esm, $dc, $body) = @_;
    my $name = sprintf('%08d', next_number());
    open(my $f, '>', "$state/pending/$name.tmp") or die;
    print $f join("\t", $from, $to, $esm, $dc, unpack('H*', $body)), "\n";
    close $f;
    rename "$state/pending/$name.tmp", "$state/pending/$name";
    logline('STORED', $name, $from);
    return $name;
}

sub deliver_pending {
    return unless $conn && $bound;
    opendir(my $d, "$state/pending") or return;
    my @names = sort grep { /^\d+$/ } readdir $d;
    closedir $d;
    my %sent = map { $_ => 1 } values %inflight;
    for my $name (@names) {
        next if $sent{$name};
        open(my $f, '<', "$state/pending/$name") or next;
        my $line = <$f>; close $f;
        chomp $line;
        my ($from, $to, $esm, $dc, $hex) = split /\t/, $line;
        my $seq = $conn->deliver_sm(source_addr_ton => 1, source_addr_npi => 1,
            source_addr => $from, destination_addr => $to, esm_class => $esm,
            data_coding => $dc, short_message => pack('H*', $hex), async => 1);
        $inflight{$seq} = $name;
        logline('DELIVER', $name, $seq);
    }
}

sub on_stdin_line {
    my ($line) = @_;
    my @w = split ' ', $line;
    return unless @w;
    if ($w[0] eq 'MO' && @w == 4) {
        my $text = decode('UTF-8', pack('H*', $w[3]));
        my ($dc, $body) = text_pdu_fields($text);
        store_mo($w[1], $w[2], 0, $dc, $body);
    } elsif ($w[0] eq 'MOPART' && @w == 7) {
        my $text = decode('UTF-8', pack('H*', $w[6]));
        my ($dc, $body) = text_pdu_fields($text);
        my $udh = pack('CCCCCC', 5, 0, 3, $w[3], $w[4], $w[5]);
        store_mo($w[1], $w[2], 0x40, $dc, $udh . $body);
    } elsif ($w[0] eq 'ENQUIRE') {
        if ($conn && $bound) { my $s = $conn->enquire_link(async => 1); logline('ENQUIRE_SENT', $s); }
    } elsif ($w[0] eq 'GARBAGE') {
        if ($conn && $bound) { $conn->syswrite(pack('NNNN', 16, 0x00000103, 0, 4242)); logline('GARBAGE_SENT'); }
    } else {
        logline('BAD_COMMAND', $line);
    }
    deliver_pending();
}

sub drop_connection {
    my ($why) = @_;
    logline('DISCONNECT', $why);
    if ($conn) { $sel->remove($conn); $conn->close; }
    $conn = undef; $bound = 0; %inflight = ();
}

sub on_pdu {
    my ($pdu) = @_;
    my $cmd = $pdu->{cmd};
    if ($cmd == 0x00000009) {   # bind_transceiver
        logline('BIND', $pdu->{system_id}, $pdu->{password}, $pdu->{system_type} eq '' ? '-' : $pdu->{system_type});
        $conn->bind_transceiver_resp(seq => $pdu->{seq}, system_id => 'perlsmsc');
        $bound = 1;
        deliver_pending();
    } elsif ($cmd == 0x00000004) {   # submit_sm
        my $id = 'M' . (++$msgid) . "-$$";
        logline('SUBMIT', $id, $pdu->{source_addr}, $pdu->{destination_addr}, $pdu->{esm_class},
            $pdu->{data_coding}, $pdu->{registered_delivery}, unpack('H*', $pdu->{short_message}));
        $conn->submit_sm_resp(seq => $pdu->{seq}, message_id => $id);
        if ($receipts && $pdu->{registered_delivery}) {
            my $text = "id:$id sub:001 dlvrd:001 submit date:2611210130 done date:2611210131 stat:DELIVRD err:000 text:";
            my $seq = $conn->deliver_sm(source_addr => $pdu->{destination_addr},
                destination_addr => $pdu->{source_addr}, esm_class => 0x04,
                short_message => $text, async => 1);
            $inflight{$seq} = "receipt:$id";
        }
    } elsif ($cmd == 0x80000005) {   # deliver_sm_resp
        my $name = delete $inflight{$pdu->{seq}};
        if (!defined $name) { logline('STRAY_RESP', $pdu->{seq}); }
        elsif ($name =~ /^receipt:(.*)/) { logline('RECEIPT_ACK', $1, $pdu->{status}); }
        elsif ($pdu->{status} == 0) { unlink "$state/pending/$name"; logline('ACK', $name); }
        else { logline('NACK', $name, $pdu->{status}); }
    } elsif ($cmd == 0x00000015) {   # enquire_link
        logline('ENQUIRE_LINK');
        $conn->enquire_link_resp(seq => $pdu->{seq});
    } elsif ($cmd == 0x80000015) {
        logline('ENQUIRE_LINK_RESP', $pdu->{seq});
    } elsif ($cmd == 0x00000006) {   # unbind
        logline('UNBIND');
        $conn->unbind_resp(seq => $pdu->{seq});
        drop_connection('unbind');
    } elsif ($cmd == 0x80000000) {
        logline('GENERIC_NACK', $pdu->{seq}, sprintf('0x%08x', $pdu->{status}));
    } else {
        logline('UNEXPECTED', sprintf('0x%08x', $cmd));
        $conn->generic_nack(seq => $pdu->{seq}, status => 3);
    }
}

$sel = IO::Select->new(\*STDIN, $listen);
while (1) {
    for my $fh ($sel->can_read(1)) {
        if ($fh == \*STDIN || (ref($fh) eq 'GLOB' && fileno($fh) == fileno(STDIN))) {
            my $n = sysread(STDIN, $stdin_buf, 65536, length $stdin_buf);
            if (!$n) { logline('STDIN_CLOSED'); exit 0; }
            while ($stdin_buf =~ s/^([^\n]*)\n//) { on_stdin_line($1); }
        } elsif ($fh == $listen) {
            my $c = $listen->accept or next;
            if ($conn) { logline('REFUSED_SECOND'); $c->close; next; }
            $conn = $c; $bound = 0; %inflight = ();
            $sel->add($conn);
            logline('CONNECT');
        } elsif ($conn && $fh == $conn) {
            my $pdu = $conn->read_pdu;
            if (!$pdu) { drop_connection('eof'); next; }
            on_pdu($pdu);
        }
    }
}
