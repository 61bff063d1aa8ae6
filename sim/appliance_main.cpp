// Simulated appliance: the Verilated appliance top served on a TCP socket.
//
// The bytes on the socket are exactly the UART's bytes: each received byte is driven onto
// uart_rx as start bit, 8 data bits and a stop bit of DIV clocks each, and uart_tx is decoded
// back into bytes. One client at a time; the device keeps its state between clients, as a
// board would. When nothing is in flight (the design's `busy` output is low and no bits are
// on either line) the loop sleeps in poll() instead of clocking an idle design.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "Vappliance.h"
#include "verilated.h"

#ifndef DIV
#define DIV 4
#endif

static Vappliance* top;
static unsigned long long cycles = 0;

static void tick() {
    top->clk = 0;
    top->eval();
    top->clk = 1;
    top->eval();
    cycles++;
}

// Drives bytes onto uart_rx.
struct RxDriver {
    int bits_left = 0;  // of the current 10-bit character
    int timer = 0;
    unsigned shreg = 0;
    bool idle() const { return bits_left == 0; }
    void step(std::deque<unsigned char>& pending) {
        if (bits_left == 0) {
            if (pending.empty()) { top->uart_rx = 1; return; }
            shreg = (1u << 9) | (unsigned(pending.front()) << 1);
            pending.pop_front();
            bits_left = 10;
            timer = DIV;
        }
        top->uart_rx = shreg & 1;
        if (--timer == 0) {
            shreg >>= 1;
            timer = DIV;
            bits_left--;
        }
    }
};

// Decodes uart_tx into bytes, sampling each bit at its centre.
struct TxMonitor {
    int state = 0;  // 0 idle, 1..8 data bits, 9 stop
    int timer = 0;
    unsigned byte = 0;
    bool idle() const { return state == 0; }
    void step(std::vector<unsigned char>& out) {
        int line = top->uart_tx;
        if (state == 0) {
            if (!line) { state = 1; timer = DIV + DIV / 2; byte = 0; }
            return;
        }
        if (--timer) return;
        timer = DIV;
        if (state <= 8) {
            byte |= unsigned(line) << (state - 1);
            state++;
        } else {
            if (line) out.push_back((unsigned char)byte);
            else fprintf(stderr, "simulated appliance: framing error on uart_tx\n");
            state = 0;
        }
    }
};

static int listen_on(const char* host, int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "bad listen address %s\n", host);
        exit(2);
    }
    if (bind(fd, (sockaddr*)&addr, sizeof addr) || listen(fd, 4)) {
        fprintf(stderr, "cannot listen on %s:%d: %s\n", host, port, strerror(errno));
        exit(2);
    }
    socklen_t len = sizeof addr;
    getsockname(fd, (sockaddr*)&addr, &len);
    printf("LISTENING %s:%d\n", host, ntohs(addr.sin_port));
    fflush(stdout);
    return fd;
}

// Serves one client until it disconnects.
static void serve(int client, RxDriver& rx, TxMonitor& tx) {
    int one = 1;
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(client, F_SETFL, O_NONBLOCK);
    std::deque<unsigned char> pending;
    std::vector<unsigned char> out;
    unsigned char buf[65536];
    bool open = true;
    while (open) {
        bool active = !pending.empty() || !rx.idle() || !tx.idle() || top->busy;
        // Poll the socket every 64 characters' worth of clocks while busy; block when idle.
        pollfd p{client, short(POLLIN | (out.empty() ? 0 : POLLOUT)), 0};
        if (poll(&p, 1, active ? 0 : 20) > 0) {
            if (p.revents & POLLIN) {
                ssize_t n = recv(client, buf, sizeof buf, 0);
                if (n > 0) pending.insert(pending.end(), buf, buf + n);
                else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) open = false;
            }
            if (p.revents & (POLLERR | POLLHUP)) open = false;
        }
        if (!out.empty()) {
            ssize_t n = send(client, out.data(), out.size(), MSG_NOSIGNAL);
            if (n > 0) out.erase(out.begin(), out.begin() + n);
            else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) open = false;
        }
        active = !pending.empty() || !rx.idle() || !tx.idle() || top->busy;
        if (!active) continue;
        for (int k = 0; k < 640 * DIV; k++) {
            rx.step(pending);
            tick();
            tx.step(out);
        }
    }
    // Finish the character on the line; the device sees a client's last bytes as garbage
    // if they were an incomplete frame, and resynchronises at the next delimiter.
    std::deque<unsigned char> none;
    while (!rx.idle()) { rx.step(none); tick(); }
    close(client);
}

int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    if (argc < 3) {
        fprintf(stderr, "usage: %s HOST PORT\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    top = new Vappliance;
    top->uart_rx = 1;
    top->rst = 1;
    for (int k = 0; k < 8; k++) tick();
    top->rst = 0;
    int server = listen_on(argv[1], atoi(argv[2]));
    RxDriver rx;
    TxMonitor tx;
    for (;;) {
        int client = accept(server, nullptr, nullptr);
        if (client < 0) continue;
        serve(client, rx, tx);
        fprintf(stderr, "simulated appliance: client left after %llu cycles in total\n", cycles);
    }
}
